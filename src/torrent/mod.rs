//! BitTorrent descriptions of what is served (issue 23, in progress): the bencoding and the
//! metainfo, pure. Nothing here is wired into serving yet.

pub mod bencode;
pub mod metainfo;
