//! Every input the fuzzers (`scripts/fuzz.sh`) found to crash a parser, kept in
//! `tests/fixtures/fuzz/TARGET-what`: each must now give a result, not a panic.

use std::path::Path;

use burn::tensor::Device;
use repalign_cli::image_io;

#[test]
fn fuzzer_findings_are_errors_not_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        // Ok or Err are both fine (a finding may parse once fixed); a panic fails the test.
        if name.starts_with("read_checkpoint-") {
            let _ = repalign_fetch::read_torch_checkpoint(&bytes);
            let _ = repalign_fetch::read_numpy_pickle(&bytes);
        } else if name.starts_with("decode_image-") {
            let _ = image_io::decode(&bytes, &path, 1 << 20);
        } else if name.starts_with("load_weights-") {
            if let Ok(store) = repalign::WeightStore::from_bytes(&bytes, &name) {
                for teacher in [
                    "vgg",
                    "resnet18",
                    "mobilenet_v2",
                    "efficientnet_lite0",
                    "squeezenet1_1",
                    "dinov2",
                ] {
                    let _ = repalign::teacher::load(teacher, store.clone(), &Device::flex());
                }
            }
        } else {
            panic!("{name}: name it after its fuzz target (TARGET-what)");
        }
        checked += 1;
    }
    assert!(checked > 0);
}
