//! Response bodies written while they are sent: by a producer on the blocking pool
//! (an archive, search results, a listing in parts), bounded so a slow client slows the
//! producer and never fills memory.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// Bytes written here reach the HTTP body as they come (bounded: a slow client slows the
/// walk, never fills memory).
pub struct ToBody(tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>);

/// A response body that `produce` writes on the blocking pool while it is sent; an error
/// ends the stream early (the client sees a cut body, never a complete-looking one).
pub fn stream_body(produce: impl FnOnce(&mut ToBody) -> std::io::Result<()> + Send + 'static) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ToBody(tx.clone());
        if let Err(e) = produce(&mut out) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    axum::body::Body::from_stream(tokio_stream_from(rx))
}

impl std::io::Write for ToBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(axum::body::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body of JSON lines, one value each.
pub fn ndjson(body: axum::body::Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<axum::body::Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
