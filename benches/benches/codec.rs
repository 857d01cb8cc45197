//! Codec throughput: framing + protobuf, by message size, ± gzip.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use grpcx::codec::{
    Codec as _, CompressionEncoding, Decoder as _, FrameDecoder, FrameEncoder, ProstCodec,
};
use grpcx_interop::pb::{Payload, SimpleRequest};

fn request(size: usize) -> SimpleRequest {
    SimpleRequest {
        response_size: 1,
        payload: Some(Payload {
            r#type: 0,
            body: (0..size).map(|i| (i % 251) as u8).collect(),
        }),
        ..Default::default()
    }
}

fn codec(c: &mut Criterion) {
    for encoding in [CompressionEncoding::Identity, CompressionEncoding::Gzip] {
        let mut group = c.benchmark_group(format!("codec/{encoding}"));
        for size in [64usize, 1024, 64 * 1024] {
            let message = request(size);
            group.throughput(Throughput::Bytes(size as u64));
            let mut codec = ProstCodec::<SimpleRequest, SimpleRequest>::default();
            group.bench_with_input(BenchmarkId::new("encode", size), &message, |b, m| {
                let mut encoder = codec.encoder();
                let mut frames = FrameEncoder::new().encoding(encoding);
                let mut out = BytesMut::with_capacity(2 * size + 64);
                b.iter(|| {
                    out.clear();
                    frames.encode(&mut encoder, m.clone(), &mut out).unwrap();
                });
            });
            let mut encoded = BytesMut::new();
            FrameEncoder::new()
                .encoding(encoding)
                .encode(&mut codec.encoder(), message.clone(), &mut encoded)
                .unwrap();
            let encoded = encoded.freeze();
            group.bench_with_input(BenchmarkId::new("decode", size), &encoded, |b, bytes| {
                let mut decoder = codec.decoder();
                b.iter(|| {
                    let mut frames = FrameDecoder::new().encoding(encoding);
                    frames.push(bytes.clone());
                    let message = frames.next_message().unwrap().unwrap();
                    decoder.decode(message).unwrap()
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
