//! Reading a body whole, bounded: the client's responses and a server
//! handler's requests alike come from a peer that may send anything.

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than `limit`. `declared` is its `Content-Length`
    /// when it had one (then nothing was read), `None` when it only grew
    /// past the limit while being read (reading stopped there).
    #[error("body exceeds the {limit}-byte limit (declared length: {declared:?})")]
    TooLarge { limit: usize, declared: Option<u64> },
    /// The connection failed or the peer sent a malformed body.
    #[error("reading the body failed: {0}")]
    Read(String),
}

/// Reads `body` to the end into one buffer of at most `limit` bytes.
///
/// A body that declares more than `limit` bytes is refused before anything
/// is read or allocated; one that does not say is cut off, with the same
/// error, as soon as it passes the limit. Either way the caller should drop
/// the connection's remaining bytes, which dropping the body does.
pub async fn collect_bounded<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let hint = body.size_hint();
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if hint.lower() > limit_u64 {
        return Err(BodyError::TooLarge {
            limit,
            declared: Some(hint.exact().unwrap_or(hint.lower())),
        });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge {
            limit,
            declared: None,
        }),
        Err(err) => Err(BodyError::Read(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::body::Frame;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that does not declare its length (as a chunked response):
    /// `left` chunks of `chunk` bytes.
    struct Undeclared {
        left: usize,
        chunk: usize,
    }

    impl Body for Undeclared {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![7u8; self.chunk])))))
        }
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn a_body_within_the_limit_is_read_whole() {
        let got = collect_bounded(Full::new(Bytes::from_static(b"hello")), 5).await;
        assert_eq!(got, Ok(Bytes::from_static(b"hello")));
        let got = collect_bounded(
            Undeclared {
                left: 4,
                chunk: 256,
            },
            1024,
        )
        .await;
        assert_eq!(got.map(|b| b.len()), Ok(1024));
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn a_declared_oversize_body_is_refused_unread() {
        let got = collect_bounded(Full::new(Bytes::from(vec![0u8; 11])), 10).await;
        assert_eq!(
            got,
            Err(BodyError::TooLarge {
                limit: 10,
                declared: Some(11)
            })
        );
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn an_undeclared_oversize_body_is_cut_off() {
        let got = collect_bounded(
            Undeclared {
                left: 5,
                chunk: 256,
            },
            1024,
        )
        .await;
        assert_eq!(
            got,
            Err(BodyError::TooLarge {
                limit: 1024,
                declared: None
            })
        );
    }
}
