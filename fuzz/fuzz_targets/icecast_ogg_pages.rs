#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::icecast::icecast_ogg_pages(data));
