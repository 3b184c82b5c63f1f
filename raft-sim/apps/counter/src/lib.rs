//! A minimal counter service (being written).
