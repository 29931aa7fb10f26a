#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::rtmp::rtmp_ingest(data));
