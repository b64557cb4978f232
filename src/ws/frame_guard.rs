//! Refuses an oversized WebSocket frame the moment its header arrives.
//!
//! actix-http compares a frame's length with `max_frame_size` only once the whole frame is in,
//! and actix-ws buffers until then: a client declaring a frame of 2^63 bytes could make the
//! server hold whatever it sends (found by the attacker review). [`FrameGuard`] reads each
//! client frame's header as the bytes pass by, and ends the stream with an error as soon as one
//! declares more than the limit; the socket is then closed with 1002.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// Where the guard is in the client's byte stream.
#[derive(Debug)]
enum Position {
    /// Reading a frame header: what has arrived of it.
    Header {
        bytes: [u8; MAX_HEADER],
        have: usize,
    },
    /// Inside a frame's payload: how much of it is still to come.
    Payload { left: u64 },
    /// A frame was too large; the stream has ended.
    Refused,
}

/// A request body stream that passes a WebSocket client's bytes through unchanged, refusing any
/// frame longer than `max` bytes from its header alone.
pub struct FrameGuard<S> {
    inner: S,
    max: u64,
    position: Position,
}

impl<S> FrameGuard<S> {
    /// Guards `inner` with a limit of `max` bytes per frame.
    pub fn new(inner: S, max: usize) -> Self {
        Self {
            inner,
            max: max as u64,
            position: Position::Header {
                bytes: [0; MAX_HEADER],
                have: 0,
            },
        }
    }

    /// Follows `chunk` through headers and payloads; false once a header declares too much.
    fn follow(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            match &mut self.position {
                Position::Payload { left } => {
                    let skipped = (*left).min(chunk.len() as u64);
                    *left -= skipped;
                    chunk = &chunk[skipped as usize..];
                    if *left == 0 {
                        self.position = Position::Header {
                            bytes: [0; MAX_HEADER],
                            have: 0,
                        };
                    }
                }
                Position::Header { bytes, have } => {
                    bytes[*have] = chunk[0];
                    *have += 1;
                    chunk = &chunk[1..];
                    if let Some(length) = declared_length(&bytes[..*have]) {
                        if length > self.max {
                            self.position = Position::Refused;
                            return false;
                        }
                        self.position = if length == 0 {
                            Position::Header {
                                bytes: [0; MAX_HEADER],
                                have: 0,
                            }
                        } else {
                            Position::Payload { left: length }
                        };
                    }
                }
                Position::Refused => return false,
            }
        }
        true
    }
}

/// The payload length a complete frame header declares; `None` while it is incomplete.
fn declared_length(header: &[u8]) -> Option<u64> {
    let second = *header.get(1)?;
    let masked = second & 0x80 != 0;
    let short = second & 0x7f;
    let extended = match short {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    if header.len() < 2 + extended + if masked { 4 } else { 0 } {
        return None;
    }
    Some(match extended {
        0 => u64::from(short),
        2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        _ => u64::from_be_bytes(header[2..10].try_into().ok()?),
    })
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if matches!(self.position, Position::Refused) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) if !self.follow(&chunk) => {
                Poll::Ready(Some(Err(PayloadError::Overflow)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> FrameGuard<futures_util::stream::Empty<Result<Bytes, PayloadError>>> {
        FrameGuard::new(futures_util::stream::empty(), 64 * 1024)
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let mut frames = vec![0x81, 0x85, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o'];
        frames.extend([0x82, 0xFE, 0xFF, 0xFF, 0, 0, 0, 0]); // 65,535 bytes declared
        frames.extend(vec![0u8; 65_535]);
        frames.extend([0x89, 0x80, 9, 9, 9, 9]); // an empty ping
        for split in [1, 3, 7, 1000, frames.len()] {
            let mut guard = guard();
            assert!(
                frames.chunks(split).all(|chunk| guard.follow(chunk)),
                "{split}"
            );
            assert!(matches!(guard.position, Position::Header { have: 0, .. }));
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_its_payload() {
        let mut guard = guard();
        let header = [
            0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3,
        ];
        assert!(guard.follow(&header), "the mask is not in yet");
        assert!(!guard.follow(&[4]));
        assert!(!guard.follow(b"more"));
        let mut guard = self::guard();
        assert!(!guard.follow(&[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 1, 1, 2, 3, 4])); // 65,537
    }
}
