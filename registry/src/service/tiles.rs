//! The ledger's tiles (C2SP tlog-tiles, [`crate::tiles`]): read through the store's read
//! connections, never the sequencer's.

use birthright_core::ledger::tiles::Tile;

use super::{Registry, ServiceError};

impl Registry {
    /// The bytes of `tile` (a hash tile or an entry bundle) of the latest signed tree, or
    /// `None` when that tree does not hold it.
    pub fn tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.store.tile(tile)?)
    }
}
