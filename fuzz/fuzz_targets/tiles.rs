#![no_main]
//! C2SP tlog-tiles: tile paths, hash tiles and entry bundles (docs/PROTOCOL.md §16), and a
//! root computed from whatever tile the input decodes to.
use birthright_core::ledger::tiles::{
    MAX_ENTRY_BYTES, Tile, TileKind, TileMap, decode_bundle, decode_hashes, root_from_tiles,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [width, rest @ ..] = data else {
        return;
    };
    // 0 stands for a full tile (256).
    let width = if *width == 0 { 256 } else { u16::from(*width) };
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(tile) = Tile::parse_path(text) {
            assert_eq!(tile.path(), text);
        }
    }
    let _ = decode_bundle(&Tile::entries(0, width), rest, MAX_ENTRY_BYTES);
    let _ = decode_bundle(&Tile::entries(0, width), rest, 49);
    let tile = Tile::hashes(0, 0, width);
    if let Ok(hashes) = decode_hashes(&tile, rest) {
        assert_eq!(tile.kind, TileKind::Hashes(0));
        let map: TileMap = [(tile, hashes)].into_iter().collect();
        let size = u64::from(width);
        let _ = root_from_tiles(size, size, &map);
    }
});
