//! `piimage doctor [--json]`: the list of what piimage needs, checked on this machine.

use anyhow::Result;
use host::{Need, Probe, Report};
use imager::source::BaseCache;

use crate::cli::DoctorArgs;

pub fn run(cache: &BaseCache, args: DoctorArgs) -> Result<()> {
    let report = Report::check(&Probe::this_machine(cache.dir()))?;
    if args.json {
        let json = serde_json::json!({
            "format": 1,
            "ready": report.commands_ready(),
            "commands": readiness(&report, &Need::COMMANDS),
            "developer": readiness(&report, &Need::DEVELOPER),
            "findings": report.findings,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", render(&report));
    }
    if report.commands_ready() {
        Ok(())
    } else {
        Err(crate::exit::SomeFailed(
            "some of piimage's commands lack what they need (listed above)".into(),
        )
        .into())
    }
}

fn readiness(report: &Report, needs: &[Need]) -> serde_json::Value {
    needs
        .iter()
        .map(|n| {
            let missing: Vec<&str> = report
                .missing_for(*n)
                .iter()
                .map(|f| f.what.as_str())
                .collect();
            (
                n.name().to_string(),
                serde_json::json!({ "ready": missing.is_empty(), "missing": missing }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn render(report: &Report) -> String {
    let mut out = String::from("What this machine has (scripts/requirements.txt):\n");
    for f in &report.findings {
        if f.state.is_ok() {
            let version = f
                .version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            let package = f
                .package
                .as_ref()
                .map(|p| format!(" ({p}{version})"))
                .unwrap_or_default();
            // A package's programs were found where PATH says (--json has the paths); the
            // other checks say what they saw.
            if f.package.is_some() && !f.what.starts_with("binfmt") {
                out += &format!("  ✓ {}{package}\n", f.what);
            } else {
                out += &format!("  ✓ {}{package}: {}\n", f.what, f.state);
            }
        } else {
            out += &host::report::describe(f);
            out.push('\n');
        }
    }
    let mut gaps = false;
    for (title, needs) in [
        ("piimage's commands", &Need::COMMANDS[..]),
        ("for developers", &Need::DEVELOPER[..]),
    ] {
        out += &format!("\n{title}:\n");
        for need in needs {
            let missing = report.missing_for(*need);
            let state = if missing.is_empty() {
                "ready".to_string()
            } else {
                gaps = true;
                let names: Vec<&str> = missing.iter().map(|f| f.what.as_str()).collect();
                format!("missing {}", names.join("; "))
            };
            out += &format!("  {:<20} {state}\n", need.label());
        }
    }
    if gaps {
        out += "\n`bash scripts/install.sh` installs everything on the list (as root, or with sudo).\n";
    }
    out
}
