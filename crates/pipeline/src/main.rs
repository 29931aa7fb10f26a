//! The `pipeline` command line: `pipeline [OPTIONS] <INPUT> <OUTPUT>`.
use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        anyhow::bail!("usage: pipeline <INPUT> <OUTPUT>");
    };
    pipeline::Pipeline::run(input, output).context("pipeline failed")
}
