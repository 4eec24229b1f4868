//! `virtguard`: who can do what to your VMs — KubeVirt's RBAC, evaluated offline and exactly.
//!
//! Thin front end: parse flags, load the snapshot, call the pure crates, render, exit code.
//! Exit codes: 0 yes/ok, 1 no (denied / nobody), 2 usage or input error.

mod args;
mod cmd;
mod input;
mod render;
mod timing;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// mimalloc: loading a large snapshot makes millions of small allocations from several
/// threads; glibc's allocator spends a third of that time growing and trimming arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (the same index in its v2 and v3 option enums).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to give freed memory back to the OS. By default it purges memory 10 ms
/// after it is freed; a command that builds and frees hundreds of MiB while loading then faults
/// the same pages back in, and the kernel's page clearing was over half of a large load's time.
/// One-shot commands end within seconds, so keeping the memory costs nothing; `serve` runs for
/// long and keeps the default.
fn keep_freed_memory() {
    // SAFETY: sets a process-wide option of the allocator; mimalloc reads it on every purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Exit code for a usage or input error.
pub const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(o @ (args::Output::Sarif | args::Output::Junit | args::Output::Html)) =
        cli.global.output
    {
        let ok = matches!(cli.command, Command::Audit(_))
            || (o == args::Output::Html
                && matches!(cli.command, Command::Matrix(_) | Command::Paths(_)));
        if !ok {
            eprintln!("error: -o {o:?} is only for audit (and -o html for matrix and paths)");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    if cli.global.output == Some(args::Output::Dot) && !matches!(cli.command, Command::Paths(_)) {
        eprintln!("error: -o dot is only for paths");
        return ExitCode::from(EXIT_ERROR);
    }
    if !matches!(cli.command, Command::Serve(_)) {
        keep_freed_memory();
    }
    let result = match &cli.command {
        Command::CanI(a) => cmd::can_i::run(&cli.global, a),
        Command::WhoCan(a) => cmd::who_can::run(&cli.global, a),
        Command::AccessReview(a) => cmd::access_review::run(&cli.global, a),
        Command::Roles(a) => cmd::roles::run(&cli.global, a),
        Command::Diff(a) => cmd::diff::run(&cli.global, a),
        Command::Matrix(a) => cmd::matrix::run(&cli.global, a),
        Command::Audit(a) => cmd::audit::run_audit(&cli.global, a),
        Command::Serve(a) => cmd::serve::run(&cli.global, a),
        Command::Kubeconfig(a) => cmd::kubeconfig::run(&cli.global, a),
        Command::Certs(a) => cmd::certs::run(&cli.global, a),
        Command::Snapshot(a) => cmd::snapshot::run(&cli.global, a),
        Command::WebhookConfig(a) => cmd::webhook_config::run(&cli.global, a),
        Command::AuthzConfig(a) => cmd::authz_config::run(&cli.global, a),
        Command::Paths(a) => cmd::paths::run(&cli.global, a),
        Command::NodeCheck(a) => cmd::node_check::run(&cli.global, a),
        Command::Completion(a) => cmd::completion::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
