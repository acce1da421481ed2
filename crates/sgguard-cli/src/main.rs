use std::process::ExitCode;

use clap::Parser;
use sgguard_cli::{Cli, Exit, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    sgguard_cli::init_tracing(cli.verbose);
    match run(cli).await {
        Ok(exit) => exit.into(),
        // `sgguard audit | head`: the reader has what it wanted.
        Err(err) if sgguard_cli::is_broken_pipe(&err) => Exit::Success.into(),
        Err(err) => {
            eprintln!("error: {}", sgguard_responder::error_chain(err.as_ref()));
            Exit::Failure.into()
        }
    }
}
