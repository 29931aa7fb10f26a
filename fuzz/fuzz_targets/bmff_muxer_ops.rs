#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::bmff::muxer_ops(data));
