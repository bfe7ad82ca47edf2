//! The command line: [`args`] (clap's definitions, values only), [`file`] (`--config FILE`:
//! settings that become arguments), [`config`] (the checked [`Config`] the server runs with,
//! made by `startup::configure`), [`link`] (`rangeserve link`), and [`print`] for the
//! subcommands that print instead of serving (completions, man, config-example, link).

pub mod args;
pub mod config;
pub mod file;
pub mod link;

pub use args::{Args, Command, LinkArgs, LinksArgs, LogFormat};
pub use config::{Config, TlsSource};

/// Writes what `command` prints to `out`.
pub fn print(command: &Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    let mut cli = Args::command();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli, "rangeserve", out);
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(cli).render(out),
        Command::ConfigExample => out.write_all(file::example(&cli).as_bytes()),
        Command::Links(args) => {
            let text =
                link::list_links(args).map_err(|err| std::io::Error::other(err.to_string()))?;
            out.write_all(text.as_bytes())
        }
        Command::Link(args) => {
            for url in link::link_urls(args, std::time::SystemTime::now())
                .map_err(|err| std::io::Error::other(err.to_string()))?
            {
                writeln!(out, "{url}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_renders() {
        let mut man = Vec::new();
        print(&Command::Man, &mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(
            man.contains(".TH rangeserve") && man.contains("tls\\-self\\-signed"),
            "{man}"
        );
    }
}
