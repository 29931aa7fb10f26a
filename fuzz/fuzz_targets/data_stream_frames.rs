#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::data_stream::data_stream_frames(data));
