use std::process::ExitCode;

use clap::Parser;
use sgguard_cli::{Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    sgguard_cli::init_tracing(cli.verbose);
    match run(cli).await {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            sgguard_cli::Exit::Failure.into()
        }
    }
}
