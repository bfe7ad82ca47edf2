//! BitTorrent descriptions of what is served: the bencoding and the metainfo, pure (served by
//! `handler::torrent`).

pub mod bencode;
pub mod metainfo;
