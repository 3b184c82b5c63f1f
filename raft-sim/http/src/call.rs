//! One request with a deadline and a bounded response: what a RaftNetwork
//! RPC over HTTP needs, with every way it can fail typed.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Body;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::{BodyError, collect_bounded};
use crate::client::HttpClient;
use crate::connector::ConnectError;
use crate::limits::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};

/// Why a [`call`] (or a JSON helper) did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No connection: a host name, a refused or timed-out connect, ...
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The whole exchange (connect, send, response, body) took longer than
    /// the deadline. The request may or may not have reached the server.
    #[error("no complete response within {after:?}")]
    Timeout { after: Duration },
    #[error("request body of {len} bytes exceeds the {limit}-byte limit")]
    RequestTooLarge { len: usize, limit: usize },
    /// The response body is longer than the limit; see
    /// [`BodyError::TooLarge`] for `declared`.
    #[error("response body exceeds the {limit}-byte limit (declared length: {declared:?})")]
    ResponseTooLarge { limit: usize, declared: Option<u64> },
    /// The connection failed or broke while the body was read.
    #[error("reading the response body failed: {0}")]
    Body(String),
    /// The server answered with a non-success status (JSON helpers only);
    /// `body` is what it said, bounded like any response.
    #[error("server answered {status}")]
    Status { status: StatusCode, body: Bytes },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("encoding the request as JSON failed: {0}")]
    Encode(String),
    #[error("decoding the response as JSON failed: {0}")]
    Decode(String),
    /// The connection broke or the response was malformed (hyper's view).
    #[error("HTTP exchange failed: {0}")]
    Http(#[source] hyper_util::client::legacy::Error),
}

impl From<BodyError> for RequestError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge { limit, declared } => {
                RequestError::ResponseTooLarge { limit, declared }
            }
            BodyError::Read(message) => RequestError::Body(message),
        }
    }
}

impl From<hyper_util::client::legacy::Error> for RequestError {
    fn from(err: hyper_util::client::legacy::Error) -> Self {
        match ConnectError::find(&err) {
            Some(connect) => RequestError::Connect(connect.clone()),
            None => RequestError::Http(err),
        }
    }
}

/// Sends `request` and reads the whole response body, at most
/// [`MAX_RESPONSE_BYTES`], all within `deadline`. Any status is returned
/// as-is. Reading the body to its end is also what hands the connection back
/// to the pool for the next request.
pub async fn call<B>(
    client: &HttpClient<B>,
    request: Request<B>,
    deadline: Duration,
) -> Result<Response<Bytes>, RequestError>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    call_bounded(client, request, deadline, MAX_RESPONSE_BYTES).await
}

/// [`call`] with another response bound.
pub async fn call_bounded<B>(
    client: &HttpClient<B>,
    request: Request<B>,
    deadline: Duration,
    max_response_bytes: usize,
) -> Result<Response<Bytes>, RequestError>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let exchange = async {
        let response = client.request(request).await?;
        let (parts, body) = response.into_parts();
        let bytes = collect_bounded(body, max_response_bytes).await?;
        Ok(Response::from_parts(parts, bytes))
    };
    match madsim_net::time::timeout(deadline, exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(RequestError::Timeout { after: deadline }),
    }
}

/// `POST`s `body` as JSON to `uri` and decodes a JSON answer, within
/// `deadline`. A non-2xx answer is [`RequestError::Status`].
pub async fn post_json<Req, Resp>(
    client: &HttpClient,
    uri: Uri,
    body: &Req,
    deadline: Duration,
) -> Result<Resp, RequestError>
where
    Req: Serialize + ?Sized,
    Resp: DeserializeOwned,
{
    let encoded = serde_json::to_vec(body).map_err(|err| RequestError::Encode(err.to_string()))?;
    if encoded.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::RequestTooLarge {
            len: encoded.len(),
            limit: MAX_REQUEST_BYTES,
        });
    }
    let request = json_request(Method::POST, uri, Bytes::from(encoded))?;
    decode(call(client, request, deadline).await?)
}

/// `GET`s `uri` and decodes a JSON answer, within `deadline`. A non-2xx
/// answer is [`RequestError::Status`].
pub async fn get_json<Resp>(
    client: &HttpClient,
    uri: Uri,
    deadline: Duration,
) -> Result<Resp, RequestError>
where
    Resp: DeserializeOwned,
{
    let request = json_request(Method::GET, uri, Bytes::new())?;
    decode(call(client, request, deadline).await?)
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

fn json_request(
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, RequestError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(ACCEPT, JSON);
    if !body.is_empty() {
        builder = builder.header(CONTENT_TYPE, JSON);
    }
    builder
        .body(Full::new(body))
        .map_err(|err| RequestError::InvalidRequest(err.to_string()))
}

fn decode<Resp: DeserializeOwned>(response: Response<Bytes>) -> Result<Resp, RequestError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        return Err(RequestError::Status {
            status: parts.status,
            body,
        });
    }
    serde_json::from_slice(&body).map_err(|err| RequestError::Decode(err.to_string()))
}
