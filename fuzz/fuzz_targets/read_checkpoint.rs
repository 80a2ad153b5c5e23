//! Any bytes through the pickle-based checkpoint readers of `repalign fetch` (torch
//! legacy and zip formats, NumPy pickles): tensors or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repalign_cli::fetch::checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = checkpoint::read_torch(data);
    let _ = checkpoint::read_numpy_pickle(data);
});
