//! reqwest's client API, the part RPC code uses, on hyper over madsim-net
//! ([`twinnet_http`]): a drop-in `reqwest` for code twinnet tests but does
//! not own. reqwest drives real tokio sockets, which cannot run in the
//! simulator; this one connects through madsim-net, so its requests cross
//! the simulated network with its faults (and real sockets without
//! `--cfg madsim`).
//!
//! Name it as the app's `reqwest` in the manifest (the one changed line):
//!
//! ```toml
//! reqwest = { package = "twinnet-reqwest", path = "..." }
//! ```
//!
//! ```no_run
//! # async fn rpc() -> Result<(), twinnet_reqwest::Error> {
//! use twinnet_reqwest as reqwest;
//! let client = reqwest::Client::builder().no_proxy().build()?;
//! let response = client
//!     .post("http://10.0.0.2:21001/vote")
//!     .json(&serde_json::json!({ "term": 3 }))
//!     .timeout(std::time::Duration::from_millis(500))
//!     .send()
//!     .await?;
//! let granted: bool = response.json().await?;
//! # let _ = granted;
//! # Ok(())
//! # }
//! ```
//!
//! Differences a caller can see: URLs must name an IP literal (the
//! simulator has no DNS; a host name is a connect error saying so), only
//! `http://`, bodies are bounded both ways
//! ([`twinnet_http::limits::MAX_REQUEST_BYTES`],
//! [`twinnet_http::limits::MAX_RESPONSE_BYTES`]), and a request without a
//! timeout gets [`DEFAULT_TIMEOUT`] rather than none, so nothing waits
//! forever.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http_body_util::Full;
use serde::Serialize;
use serde::de::DeserializeOwned;
use twinnet_http::{HttpClient, RequestError};

pub use http::{Method, StatusCode};

/// The deadline of a request that set none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request failed, with reqwest's questions about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No response: no connection, a timeout, a broken exchange, ...
    #[error("error sending request for url ({url}): {source}")]
    Request {
        url: String,
        #[source]
        source: RequestError,
    },
    /// The request could not be built (a bad URL, an unencodable body).
    #[error("builder error for url ({url}): {message}")]
    Builder { url: String, message: String },
    /// The response body is not the JSON asked for.
    #[error("error decoding response body: {0}")]
    Decode(#[source] serde_json::Error),
}

impl Error {
    /// No connection was made: the request never left.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Error::Request {
                source: RequestError::Connect(_),
                ..
            }
        )
    }

    /// The deadline passed first.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Request {
                source: RequestError::Timeout { .. },
                ..
            }
        )
    }

    pub fn is_builder(&self) -> bool {
        matches!(self, Error::Builder { .. })
    }

    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode(_))
    }

    pub fn is_request(&self) -> bool {
        matches!(self, Error::Request { .. })
    }
}

/// A pooled HTTP/1 client; clones share the pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: HttpClient,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with a keep-alive pool; create it on the node that uses it
    /// (its connections belong to that node).
    pub fn new() -> Self {
        Client {
            http: twinnet_http::client(),
        }
    }

    pub fn builder() -> ClientBuilder {
        ClientBuilder { _private: () }
    }

    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder {
            http: self.http.clone(),
            method,
            url: url.as_ref().to_owned(),
            body: Ok(None),
            timeout: None,
        }
    }
}

/// reqwest's builder; no setting here changes anything but is accepted.
#[derive(Debug)]
pub struct ClientBuilder {
    _private: (),
}

impl ClientBuilder {
    /// There is no proxy on madsim-net; accepted for reqwest's API.
    pub fn no_proxy(self) -> Self {
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        Ok(Client::new())
    }
}

/// One request being built.
#[derive(Debug)]
pub struct RequestBuilder {
    http: HttpClient,
    method: Method,
    url: String,
    /// The JSON body, or why it could not be encoded (reported by `send`).
    body: Result<Option<Bytes>, String>,
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// Sends `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value)
            .map(|bytes| Some(Bytes::from(bytes)))
            .map_err(|e| e.to_string());
        self
    }

    /// The deadline of the whole exchange: connect, send, the whole response.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub async fn send(self) -> Result<Response, Error> {
        let url = self.url;
        let builder_error = |message: String| Error::Builder {
            url: url.clone(),
            message,
        };
        let body = self.body.map_err(builder_error)?.unwrap_or_default();
        if body.len() > twinnet_http::limits::MAX_REQUEST_BYTES {
            return Err(Error::Request {
                url,
                source: RequestError::RequestTooLarge {
                    len: body.len(),
                    limit: twinnet_http::limits::MAX_REQUEST_BYTES,
                },
            });
        }
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(&url)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| builder_error(e.to_string()))?;
        let deadline = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        match twinnet_http::call(&self.http, request, deadline).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                Ok(Response {
                    status: parts.status,
                    body,
                })
            }
            Err(source) => Err(Error::Request { url, source }),
        }
    }
}

/// A response, its body already read whole (bounded).
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    body: Bytes,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(Error::Decode)
    }

    pub async fn bytes(self) -> Result<Bytes, Error> {
        Ok(self.body)
    }

    pub async fn text(self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }
}
