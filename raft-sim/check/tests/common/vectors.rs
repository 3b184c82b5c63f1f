//! Porcupine's vectors as laid out in `../shared/vectors/porcupine`:
//! where they are and what `MANIFEST.tsv` says of each. Shared by
//! `tests/check_vectors.rs` and `benches/check.rs`.

use std::path::{Path, PathBuf};

use twinnet_check::{History, ModelKind, Verdict};

/// The vectors directory: `$TWINNET_PORCUPINE_VECTORS`, or the shared copy
/// beside the workspace.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("TWINNET_PORCUPINE_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/porcupine"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Linearizable,
    NotLinearizable,
    /// Linearizable, with no operations at all.
    LinearizableEmpty,
}

pub struct Row {
    pub file: String,
    pub model: ModelKind,
    pub expected: Expected,
}

pub fn parse_manifest(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "file\tmodel\texpected")) => {}
        other => {
            return Err(format!(
                "manifest header is {other:?}, expected file/model/expected"
            ));
        }
    }
    let mut rows = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, model, expected] = fields[..] else {
            return Err(format!(
                "manifest line {}: expected 3 tab-separated fields: {line:?}",
                index + 1
            ));
        };
        let model = ModelKind::from_name(model)
            .ok_or_else(|| format!("manifest line {}: unknown model {model:?}", index + 1))?;
        let expected = match expected {
            "linearizable" => Expected::Linearizable,
            "not-linearizable" => Expected::NotLinearizable,
            "linearizable-empty" => Expected::LinearizableEmpty,
            other => {
                return Err(format!(
                    "manifest line {}: unknown verdict {other:?}",
                    index + 1
                ));
            }
        };
        rows.push(Row {
            file: file.to_string(),
            model,
            expected,
        });
    }
    Ok(rows)
}

pub fn load(path: &Path) -> Result<History, String> {
    let file = std::fs::File::open(path).map_err(|err| format!("cannot open: {err}"))?;
    twinnet_check::parse_history(std::io::BufReader::new(file)).map_err(|err| err.to_string())
}

impl Expected {
    /// The checker's verdict this row asks for.
    pub fn verdict(self) -> Verdict {
        match self {
            Expected::NotLinearizable => Verdict::NotLinearizable,
            Expected::Linearizable | Expected::LinearizableEmpty => Verdict::Linearizable,
        }
    }
}
