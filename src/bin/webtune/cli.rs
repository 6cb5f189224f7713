//! Argument parsing and dispatch of the subcommands.

use clap::{Parser, Subcommand};
use webtune::{DevicePreference, device, train};

#[derive(Parser)]
#[command(name = "webtune", version, about = "Fine-tune and run transformer models (webtune CLI)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the devices this build can use: wgpu adapters (name, backend, limits) and the CPU.
    Devices,
    /// Run one training step on a device and report the loss before and after (it must fall).
    SelfTest {
        /// auto | gpu | cpu
        #[arg(long, default_value = "auto")]
        device: String,
    },
}

pub fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if let Err(e) = run(cli.command) {
        eprintln!("error ({}): {e}", e.js_name());
        std::process::exit(1);
    }
}

fn run(command: Command) -> webtune::Result<()> {
    match command {
        Command::Devices => print(&device::list()),
        Command::SelfTest { device } => {
            let pref: DevicePreference = device.parse()?;
            let dev = pollster::block_on(device::select(pref))?;
            let report = pollster::block_on(train::self_test(&dev))?;
            print(&report)?;
            if !report.passed() {
                return Err(webtune::Error::Backend(format!(
                    "self-test failed on {}: loss went from {} to {}",
                    report.device, report.loss_before, report.loss_after
                )));
            }
            Ok(())
        }
    }
}

fn print<T: serde::Serialize>(value: &T) -> webtune::Result<()> {
    let s = serde_json::to_string_pretty(value).map_err(|e| webtune::Error::Backend(e.to_string()))?;
    println!("{s}");
    Ok(())
}
