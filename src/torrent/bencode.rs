//! Pure: bencoding (BEP 3) — the byte form of a torrent's metainfo. Integers `i42e`, byte
//! strings `4:spam`, lists `l…e`, dictionaries `d…e` with keys sorted as raw bytes (BEP 3
//! requires it, and the infohash is the SHA-1 of the `info` dictionary's exact bytes, so one
//! canonical form is what makes every replica's infohash the same).

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// Keys in byte order (a `BTreeMap` of byte strings sorts them so).
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Value {
        Value::Bytes(b.as_ref().to_vec())
    }

    /// A dictionary from `(key, value)` pairs (any order: it is sorted).
    pub fn dict<K: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v))
                .collect(),
        )
    }

    /// The bencoded bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (key, value) in map {
                    Value::Bytes(key.clone()).encode_into(out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_bep_3_says_with_sorted_keys() {
        assert_eq!(Value::Int(42).encode(), b"i42e");
        assert_eq!(Value::Int(-3).encode(), b"i-3e");
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(Value::bytes("spam").encode(), b"4:spam");
        assert_eq!(Value::bytes("").encode(), b"0:");
        assert_eq!(
            Value::List(vec![Value::bytes("spam"), Value::Int(1)]).encode(),
            b"l4:spami1ee"
        );
        let dict = Value::dict([("spam", Value::bytes("eggs")), ("cow", Value::bytes("moo"))]);
        assert_eq!(dict.encode(), b"d3:cow3:moo4:spam4:eggse");
        // Raw byte order: uppercase before lowercase, shorter prefix first.
        let dict = Value::dict([
            ("a", Value::Int(1)),
            ("B", Value::Int(2)),
            ("ab", Value::Int(3)),
        ]);
        assert_eq!(dict.encode(), b"d1:Bi2e1:ai1e2:abi3ee");
    }
}
