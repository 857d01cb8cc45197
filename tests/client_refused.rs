//! How far a failed call got: a stream the server's HTTP/2 layer refused
//! (`REFUSED_STREAM`, or above a GOAWAY's last stream id) is sent once
//! more (gRFC A6's transparent retry), and is `Progress::Refused` when
//! refused again; after a GOAWAY new calls go to a new connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use grpcx::{Code, Origin, Progress, Pushback};
use grpcx_tests::raw::{RawServer, grpc_response_head};
use grpcx_tests::{ProbeReply, ProbeRequest, channel, endpoint, unary, within};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_stream_refused_twice_is_refused_and_a_trailers_only_error_is_processed() {
    let refusals = Arc::new(AtomicUsize::new(0));
    let counted = refusals.clone();
    let server = RawServer::start(move |request, mut respond, _close| {
        let counted = counted.clone();
        async move {
            match request.uri().path() {
                "/grpcx.test.Probe/Unary" => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    respond.send_reset(h2::Reason::REFUSED_STREAM)
                }
                _ => {
                    // Trailers-Only UNAVAILABLE with a retry pushback.
                    let mut head = grpc_response_head(StatusCode::OK, "application/grpc");
                    let headers = head.headers_mut();
                    headers.insert("grpc-status", "14".parse().unwrap());
                    headers.insert("grpc-message", "overloaded".parse().unwrap());
                    headers.insert("grpc-retry-pushback-ms", "250".parse().unwrap());
                    let _ = respond.send_response(head, true);
                }
            }
        }
    })
    .await;
    let channel = channel(server.addr);

    let refused = unary(&channel, ProbeRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(refused.progress(), Progress::Refused, "{refused:?}");
    assert!(refused.progress().is_unprocessed());
    // Sent once more after the first refusal, and no more.
    assert_eq!(refusals.load(Ordering::SeqCst), 2);

    let pushed_back = within(
        "a call answered Trailers-Only",
        channel.unary(
            "/grpcx.test.Other/Unary".parse().unwrap(),
            grpcx::Request::new(ProbeRequest::default()),
            grpcx_tests::codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(pushed_back.code(), Code::Unavailable);
    assert_eq!(pushed_back.message(), "overloaded");
    assert_eq!(pushed_back.origin(), Origin::Peer);
    assert_eq!(pushed_back.progress(), Progress::Processed);
    assert_eq!(
        pushed_back.pushback(),
        Some(Pushback::Delay(Duration::from_millis(250)))
    );
}

#[tokio::test]
async fn a_call_that_cannot_connect_was_not_sent() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channel = endpoint(format!("127.0.0.1:{port}").parse().unwrap()).connect_lazy();
    let status = unary(&channel, ProbeRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.progress(), Progress::NotSent, "{status:?}");
}

#[tokio::test]
async fn a_deadline_before_the_call_is_sent_leaves_it_unsent() {
    let channel = endpoint("127.0.0.1:9".parse().unwrap()).connect_lazy();
    let request =
        grpcx::Request::new(ProbeRequest::default()).with_deadline(tokio::time::Instant::now());
    let status = unary(&channel, request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(status.origin(), Origin::Deadline);
    assert_eq!(status.progress(), Progress::NotSent);
}

/// A hand-written HTTP/2 server. On its first connection it waits for
/// `1 + burst` streams, then sends GOAWAY with last stream id 1 (refusing
/// the burst) and answers stream 1 with one message and `OK`; on later
/// connections it answers each request as it ends.
struct GoAwayServer {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Requests answered on the connections after the first.
    answered_later: Arc<AtomicUsize>,
    first_stream: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GoAwayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let len = payload.len() as u32;
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
    out.put_slice(payload);
    out.freeze()
}

/// HEADERS, DATA and trailers answering `stream` with one `ProbeReply`
/// (HPACK without Huffman or indexing, so it is written by hand).
fn answer(stream: u32) -> Vec<Bytes> {
    let mut head = vec![0x88]; // :status 200 (static index 8)
    head.extend_from_slice(&[0x0f, 0x10, 16]); // content-type (index 31), 16 bytes
    head.extend_from_slice(b"application/grpc");
    let mut trailers = vec![0x00, 11];
    trailers.extend_from_slice(b"grpc-status");
    trailers.extend_from_slice(&[1, b'0']);
    let reply = grpcx_tests::raw::frame(&ProbeReply::default());
    vec![
        frame(HEADERS, 0x4, stream, &head),
        frame(DATA, 0, stream, &reply),
        frame(HEADERS, 0x5, stream, &trailers),
    ]
}

impl GoAwayServer {
    async fn start(burst: usize) -> GoAwayServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let answered_later = Arc::new(AtomicUsize::new(0));
        let (first_tx, first_stream) = mpsc::unbounded_channel();
        let (count, answered) = (connections.clone(), answered_later.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let (first_tx, answered) = (first_tx.clone(), answered.clone());
                tokio::spawn(async move {
                    let _ = if n == 1 {
                        go_away_after(tcp, 1 + burst, first_tx).await
                    } else {
                        answer_all(tcp, answered).await
                    };
                });
            }
        });
        GoAwayServer {
            addr,
            connections,
            answered_later,
            first_stream,
            task,
        }
    }
}

/// Reads the next frame after answering the client's SETTINGS and PINGs:
/// its type, flags and stream.
async fn next_frame(tcp: &mut TcpStream) -> std::io::Result<(u8, u8, u32)> {
    loop {
        let mut header = [0u8; 9];
        tcp.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await?;
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        match header[3] {
            SETTINGS if header[4] & 0x1 == 0 => {
                tcp.write_all(&frame(SETTINGS, 0x1, 0, &[])).await?
            }
            PING if header[4] & 0x1 == 0 => tcp.write_all(&frame(PING, 0x1, 0, &payload)).await?,
            kind => return Ok((kind, header[4], stream)),
        }
    }
}

async fn start_connection(tcp: &mut TcpStream) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await
}

async fn go_away_after(
    mut tcp: TcpStream,
    streams_to_wait_for: usize,
    first_stream: mpsc::UnboundedSender<()>,
) -> std::io::Result<()> {
    start_connection(&mut tcp).await?;
    let mut streams = Vec::new();
    while streams.len() < streams_to_wait_for {
        if let (HEADERS, _, stream) = next_frame(&mut tcp).await? {
            if streams.is_empty() {
                let _ = first_stream.send(());
            }
            streams.push(stream);
        }
    }
    let first = streams[0];
    let mut payload = first.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
    tcp.write_all(&frame(GOAWAY, 0, 0, &payload)).await?;
    for chunk in answer(first) {
        tcp.write_all(&chunk).await?;
    }
    tcp.flush().await?;
    // Keep the connection until the client closes it.
    let mut sink = [0u8; 1024];
    while tcp.read(&mut sink).await? > 0 {}
    Ok(())
}

async fn answer_all(mut tcp: TcpStream, answered: Arc<AtomicUsize>) -> std::io::Result<()> {
    start_connection(&mut tcp).await?;
    loop {
        let (kind, flags, stream) = next_frame(&mut tcp).await?;
        // A request ends with END_STREAM, on its DATA or its HEADERS.
        if (kind == DATA || kind == HEADERS) && flags & 0x1 != 0 {
            for chunk in answer(stream) {
                tcp.write_all(&chunk).await?;
            }
            answered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn streams_above_a_goaway_go_once_more_on_a_new_connection() {
    const BURST: usize = 4;
    let mut server = GoAwayServer::start(BURST).await;
    let channel = channel(server.addr);

    // Stream 1 reaches the server first...
    let first = tokio::spawn({
        let channel = channel.clone();
        async move { unary(&channel, ProbeRequest::default()).await }
    });
    within("the first stream", server.first_stream.recv())
        .await
        .unwrap();
    // ...then a burst the server's GOAWAY (last stream id 1) refuses: the
    // server never processed them, so each goes once more, on a new
    // connection, and is answered there.
    let burst: Vec<_> = (0..BURST)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move { unary(&channel, ProbeRequest::default()).await })
        })
        .collect();
    for call in burst {
        within("a refused call", call)
            .await
            .unwrap()
            .expect("a refused call is answered on the new connection");
    }
    // The stream below the GOAWAY is answered on the first connection.
    first.await.unwrap().expect("stream 1 is answered");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.answered_later.load(Ordering::SeqCst), BURST);

    // New calls use the new connection.
    unary(&channel, ProbeRequest::default())
        .await
        .expect("a call after the GOAWAY");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.answered_later.load(Ordering::SeqCst), BURST + 1);
}
