#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::mp3::mp3_tag_text(data));
