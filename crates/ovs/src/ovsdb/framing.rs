//! Splitting the OVSDB byte stream into JSON-RPC messages (RFC 7047 §4: JSON-RPC 1.0 objects
//! sent back to back with no framing) and decoding them: a [`Framer`] fed whatever each read
//! returned. It scans every byte once (string and nesting state survive between reads, so the
//! result does not depend on where reads split the stream), decodes each message once it is
//! complete, and refuses a message longer than its limit instead of buffering it.

use serde_json::Value;

use super::OvsdbError;

/// The default longest message: a monitor's initial reply for tens of thousands of rows.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Incremental splitter and decoder of one connection's incoming messages.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where the unconsumed bytes of `buf` start (the current message, if any).
    start: usize,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Nesting depth inside the current message (0: between messages).
    depth: usize,
    in_string: bool,
    escaped: bool,
    max: usize,
    /// Set after the first error: the stream cannot be resynchronised.
    failed: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_MESSAGE_BYTES)
    }
}

impl Framer {
    /// A framer refusing messages longer than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            max: max_message_bytes,
            failed: false,
        }
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes held: fed but not returned as messages yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `None` when more bytes are needed. An error (not a JSON
    /// object, bad JSON, a message over the limit) is final: the connection must be dropped.
    pub fn next_message(&mut self) -> Result<Option<Value>, OvsdbError> {
        if self.failed {
            return Err(OvsdbError::Protocol("stream already failed".into()));
        }
        let result = self.scan();
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
        }
        result
    }

    fn scan(&mut self) -> Result<Option<Value>, OvsdbError> {
        while self.scanned < self.buf.len() {
            let b = self.buf[self.scanned];
            self.scanned += 1;
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' => self.start = self.scanned,
                    b'{' => self.depth = 1,
                    other => {
                        return Err(OvsdbError::Protocol(format!(
                            "bad JSON from server: expected a JSON-RPC object, found byte {other:#04x}"
                        )));
                    }
                }
                continue;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
            if self.depth == 0 {
                return self.complete().map(Some);
            }
        }
        // Everything is scanned: drop the consumed bytes once per read, not per message.
        self.buf.drain(..self.start);
        self.scanned -= self.start;
        self.start = 0;
        if self.buf.len() > self.max {
            return Err(self.too_long());
        }
        Ok(None)
    }

    /// Decodes the message that ends at `scanned`.
    fn complete(&mut self) -> Result<Value, OvsdbError> {
        if self.scanned - self.start > self.max {
            return Err(self.too_long());
        }
        let value = serde_json::from_slice::<Value>(&self.buf[self.start..self.scanned])
            .map_err(|e| OvsdbError::Protocol(format!("bad JSON from server: {e}")))?;
        self.start = self.scanned;
        Ok(value)
    }

    fn too_long(&self) -> OvsdbError {
        OvsdbError::Protocol(format!("message from server longer than {} bytes", self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(f: &mut Framer) -> Result<Vec<Value>, OvsdbError> {
        let mut out = vec![];
        while let Some(v) = f.next_message()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn splits_back_to_back_and_partial_messages() {
        let mut f = Framer::default();
        f.feed(br#" {"id":1,"result":["}"]}{"id":2,"res"#);
        assert_eq!(all(&mut f).unwrap(), vec![json!({"id": 1, "result": ["}"]})]);
        assert_eq!(f.buffered(), 12);
        f.feed(br#"ult":"a\"{"}"#);
        assert_eq!(all(&mut f).unwrap(), vec![json!({"id": 2, "result": "a\"{"})]);
        f.feed(b" \n");
        assert!(all(&mut f).unwrap().is_empty());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn garbage_is_a_final_error() {
        for bad in [&b"{]"[..], b"x", b"12 ", b"[1]", b"{\"a\":tru}", b"{\"\xff\":1}"] {
            let mut f = Framer::default();
            f.feed(bad);
            assert!(all(&mut f).is_err(), "{:?}", String::from_utf8_lossy(bad));
            f.feed(b"{}");
            assert!(f.next_message().is_err());
        }
    }

    #[test]
    fn messages_over_the_limit_are_refused_without_buffering_them() {
        let mut f = Framer::new(100);
        f.feed(br#"{"id":1,"result":"short"}"#);
        assert_eq!(all(&mut f).unwrap().len(), 1);
        f.feed(b"{\"id\":2,\"result\":\"");
        for _ in 0..10 {
            f.feed(&[b'a'; 16]);
            if f.next_message().is_err() {
                assert!(f.buffered() <= 100 + 16);
                return;
            }
        }
        panic!("a 180-byte message passed a 100-byte limit");
    }

    #[test]
    fn a_complete_message_over_the_limit_is_refused_too() {
        let mut f = Framer::new(10);
        f.feed(br#"{"id":1,"result":"longer than ten"}{}"#);
        assert!(f.next_message().is_err());
    }
}
