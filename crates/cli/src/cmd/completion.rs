//! `virtguard completion SHELL`: shell completion scripts, generated from the flag definitions.

use anyhow::Result;
use clap::CommandFactory;

use crate::args::{Cli, CompletionArgs};

pub fn run(a: &CompletionArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "virtguard", &mut std::io::stdout());
    Ok(0)
}
