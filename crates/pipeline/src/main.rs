//! The `pipeline` command line: `pipeline [OPTIONS] <INPUT> <OUTPUT>`.
use anyhow::Context as _;
use pipeline::{Direction, Endpoint};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        anyhow::bail!("usage: pipeline <INPUT> <OUTPUT>");
    };
    let input = Endpoint::parse(input, Direction::Input)?;
    let output = Endpoint::parse(output, Direction::Output)?;
    pipeline::Pipeline::run(&input, &output).with_context(|| format!("{input} -> {output}"))
}
