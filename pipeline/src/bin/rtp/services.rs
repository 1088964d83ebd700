//! `rtp serve` and `rtp up`: the services run by this binary, alone in the
//! foreground or all three as its children.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rtp_pipeline::chain;
use rtp_pipeline::config::PipelineConfig;
use rtp_stack::{Launcher, Program, Stack, has_bundle};

use crate::progress::with_spinner;

/// `rtp serve`: runs `program` until a stop signal; its errors end in one
/// line naming it, as from its own binary.
pub fn serve(program: Program, config: Option<&Path>) -> ExitCode {
    let overrides = program.overrides(|var| std::env::var(var));
    rtp_service_support::exit_code(
        program.binary(),
        program
            .serve(config, &overrides)
            .map_err(anyhow::Error::from),
    )
}

/// How this binary starts a service as its child: `rtp serve <service>`.
pub fn launcher() -> Result<Launcher> {
    let exe = std::env::current_exe().context("finding this executable")?;
    Ok(Launcher::new(exe, &["serve"]))
}

/// `rtp up`: a bundle (trained when missing), then the three services until
/// Ctrl-C, SIGTERM, or one of them exits.
pub fn up(config: &PipelineConfig, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let bundle_dir = &config.run.bundle_dir;
    if !has_bundle(bundle_dir) {
        println!(
            "no bundle in {}: training a demo bundle first (as `rtp run`)",
            bundle_dir.display()
        );
        let report = with_spinner("running the pipeline", || {
            runtime.block_on(chain::run(config))
        })?;
        if let Some(dir) = report.bundle {
            println!("published bundle {}", dir.display());
        }
    }
    let mut stack = Stack::start(&launcher()?, bundle_dir)?;
    println!(
        "rt-predictor is up: open {}/ (Ctrl-C stops all three)",
        stack.dashboard_url
    );
    let failure = runtime.block_on(async {
        let signal = rtp_service_support::shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => return None,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    if let Some(failed) = stack.failed() {
                        return Some(failed);
                    }
                }
            }
        }
    });
    let stopped = stack.stop();
    for (name, status) in &stopped {
        match status {
            Some(status) => println!("{name} stopped ({status})"),
            None => println!("{name} could not be waited for"),
        }
    }
    if let Some((name, status)) = failure {
        bail!("{name} exited on its own ({status}); the others were stopped");
    }
    println!("rt-predictor is down");
    Ok(())
}
