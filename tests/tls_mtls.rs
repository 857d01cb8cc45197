//! Mutual TLS end to end through the facade (`tls-rustls`): a CA made by
//! rcgen signs the server's and the client's certificates; the server
//! requires a client certificate (rustls's `WebPkiClientVerifier`), and
//! both a server layer and the handler read the peer's chain from the
//! call's `CallContext`. A client without a certificate is refused at the
//! handshake, and a connection that never finishes its TLS handshake (or
//! never sends the HTTP/2 preface after it) is closed at the handshake
//! timeout.
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpcx::codec::ProstCodec;
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::tls::rustls;
use grpcx::{
    Body, BoxError, CallContext, Code, Endpoint, Origin, Progress, Request, Response, Server,
    ServerRequest, Status,
};
use http::uri::PathAndQuery;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `test.Whoami/Get`: answers with the leaf certificate of the client's
/// chain and the chain's length.
struct Whoami;

impl GrpcService for Whoami {
    fn name(&self) -> &'static str {
        "test.Whoami"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        match method {
            "Get" => Box::pin(handler::unary(
                call,
                ProstCodec::<Vec<u8>, ()>::default(),
                |req: ServerRequest<()>| async move {
                    let chain = req
                        .context()
                        .peer_certificates()
                        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
                    let mut answer = vec![u8::try_from(chain.len()).unwrap_or(u8::MAX)];
                    answer.extend_from_slice(chain.first().map_or(&[][..], |c| c.as_ref()));
                    Ok::<_, Status>(Response::new(answer))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

/// A CA, and a server and a client certificate it signed.
struct Pki {
    ca: CertificateDer<'static>,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

fn pki() -> Pki {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "grpcx test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf = |name: &str, usage: rcgen::ExtendedKeyUsagePurpose| {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        // The chain as sent: the leaf, then the CA.
        (vec![cert.der().clone(), ca.der().clone()], key)
    };
    Pki {
        server: leaf("localhost", rcgen::ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf("client-1", rcgen::ExtendedKeyUsagePurpose::ClientAuth),
        ca: ca.der().clone(),
    }
}

fn roots(ca: &CertificateDer<'static>) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    Arc::new(roots)
}

/// A server requiring a client certificate signed by the CA; a layer
/// records the leaf certificate of every call it sees (and refuses calls
/// without one). Returns the port and what the layer recorded.
async fn serve(pki: &Pki) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    serve_with_handshake_timeout(pki, Duration::from_secs(10)).await
}

/// As [`serve`], with the server's handshake timeout set.
async fn serve_with_handshake_timeout(
    pki: &Pki,
    handshake_timeout: Duration,
) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let verifier = rustls::server::WebPkiClientVerifier::builder(roots(&pki.ca))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server.0.clone(), pki.server.1.clone_key())
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let record = move |request: http::Request<Body>| -> Result<http::Request<Body>, BoxError> {
        let leaf = request
            .extensions()
            .get::<CallContext>()
            .and_then(CallContext::peer_certificates)
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec())
            .ok_or_else(|| Status::unauthenticated("the layer saw no client certificate"))?;
        recorded.lock().unwrap().push(leaf);
        Ok(request)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        Server::builder()
            .tls_config(config)
            .handshake_timeout(handshake_timeout)
            .layer(tower::filter::FilterLayer::new(record))
            .add_service(Whoami)
            .serve(listener),
    );
    (port, seen)
}

async fn whoami(channel: &grpcx::Channel) -> Result<Vec<u8>, Status> {
    channel
        .unary(
            PathAndQuery::from_static("/test.Whoami/Get"),
            Request::new(()).with_timeout(Duration::from_secs(20)),
            ProstCodec::<(), Vec<u8>>::default(),
        )
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_client_with_a_certificate_is_seen_by_the_layer_and_the_handler() {
    let pki = pki();
    let (port, seen) = serve(&pki).await;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(&pki.ca))
        .with_client_auth_cert(pki.client.0.clone(), pki.client.1.clone_key())
        .unwrap();
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(config)
        .connect_lazy();

    let answer = whoami(&channel).await.unwrap();
    let leaf = pki.client.0[0].to_vec();
    assert_eq!(answer[0], 2, "the handler sees the whole chain as sent");
    assert_eq!(
        &answer[1..],
        &leaf[..],
        "the handler sees the client's leaf"
    );
    assert_eq!(*seen.lock().unwrap(), vec![leaf.clone()]);

    // A second call on the same connection sees the same identity.
    whoami(&channel).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_at_the_handshake() {
    let pki = pki();
    let (port, seen) = serve(&pki).await;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(&pki.ca))
        .with_no_client_auth();
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(config)
        .connect_lazy();

    let status = whoami(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
    assert_eq!(status.origin(), Origin::Transport, "{status:#}");
    // With TLS 1.3 the refusal comes after the request was written, but
    // the server never read it: safe to send elsewhere.
    assert_eq!(status.progress(), Progress::NotSent, "{status:#}");
    assert!(
        status.message().contains("TLS handshake failed"),
        "{status:#}"
    );
    // rustls's words for why: the server required a certificate.
    assert!(
        status.message().contains("CertificateRequired"),
        "{status:#}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no call reached the server"
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_at_the_handshake() {
    let pki = pki();
    let (port, seen) = serve(&pki).await;
    let stranger = self::pki();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(&pki.ca))
        .with_client_auth_cert(stranger.client.0.clone(), stranger.client.1.clone_key())
        .unwrap();
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(config)
        .connect_lazy();

    let status = whoami(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
    assert!(
        status.message().contains("TLS handshake failed"),
        "{status:#}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no call reached the server"
    );
}

#[tokio::test]
async fn a_server_certificate_the_client_does_not_trust_fails_the_handshake() {
    let pki = pki();
    let (port, seen) = serve(&pki).await;
    let stranger = self::pki();
    // The client trusts another CA: its own verification fails.
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(&stranger.ca))
        .with_client_auth_cert(pki.client.0.clone(), pki.client.1.clone_key())
        .unwrap();
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(config)
        .connect_lazy();

    let status = whoami(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
    assert_eq!(status.origin(), Origin::Transport, "{status:#}");
    assert!(
        status.message().contains("TLS handshake failed"),
        "{status:#}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no call reached the server"
    );
}

/// Reads from `stream` until the server closes it (end of stream or a
/// reset), and returns when that happened; fails past [`WAIT`].
async fn until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Instant {
    use tokio::io::AsyncReadExt;
    let mut buf = [0_u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server did not close the connection")
}

/// How long a test waits for the server at most.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_connection_stuck_in_the_tls_handshake_is_closed_at_the_handshake_timeout() {
    use tokio::io::AsyncWriteExt;
    const TIMEOUT: Duration = Duration::from_millis(500);
    // Far below the default timeout (10 s), far above any scheduling delay.
    const SLACK: Duration = Duration::from_secs(5);
    let pki = pki();
    let (port, seen) = serve_with_handshake_timeout(&pki, TIMEOUT).await;
    let started = Instant::now();

    // One connection says nothing; one sends the start of a ClientHello
    // record (handshake, TLS 1.0 record version, 512 bytes announced) and
    // stops; one finishes the TLS handshake and never sends the HTTP/2
    // preface.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut partial = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(&pki.ca))
        .with_client_auth_cert(pki.client.0.clone(), pki.client.1.clone_key())
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let handshake = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        tcp,
    );
    // On an idle machine the handshake succeeds well within the timeout;
    // on a very busy one it may itself run into it, which is closed too.
    let tls_closed = match handshake.await {
        Ok(mut tls) => until_closed(&mut tls).await,
        Err(_) => Instant::now(),
    };

    for closed in [
        until_closed(&mut silent).await,
        until_closed(&mut partial).await,
        tls_closed,
    ] {
        let after = closed.duration_since(started);
        assert!(
            after >= TIMEOUT,
            "closed after {after:?}, before the timeout"
        );
        assert!(after < TIMEOUT + SLACK, "closed only after {after:?}");
    }
    assert!(seen.lock().unwrap().is_empty(), "no call was made");
}
