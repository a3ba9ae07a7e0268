//! The permessage-deflate options shared by the server and client commands.

use wsloop::ws::deflate::DeflateConfig;
use wsloop::ws::Role;

use super::parse_size;

/// permessage-deflate options (on by default).
#[derive(clap::Args, Clone, Debug)]
pub struct DeflateArgs {
    /// Decline (server) or do not offer (client) permessage-deflate.
    #[arg(long)]
    pub no_deflate: bool,
    /// zlib compression level, 0 (store) to 9 (smallest).
    #[arg(long, default_value_t = 1, value_name = "0-9")]
    pub deflate_level: u8,
    /// zlib memory level, 1 to 9: lower costs less memory and some ratio.
    #[arg(long, default_value_t = 8, value_name = "1-9")]
    pub deflate_mem_level: u8,
    /// Largest LZ77 window our side compresses with, as bits (8 to 15).
    #[arg(long, default_value_t = 15, value_name = "8-15")]
    pub deflate_window_bits: u8,
    /// Messages shorter than this go uncompressed (k/m suffixes).
    #[arg(long, default_value = "64", value_parser = parse_size)]
    pub deflate_threshold: usize,
    /// Our side keeps no compression context between messages: no
    /// compressor held between messages, and broadcasts compressed once.
    #[arg(long)]
    pub deflate_no_context_takeover: bool,
}

impl DeflateArgs {
    /// The settings for an endpoint in `role`, checked.
    pub fn config(&self, role: Role) -> Result<DeflateConfig, String> {
        let mut config = DeflateConfig {
            enabled: !self.no_deflate,
            level: self.deflate_level,
            mem_level: self.deflate_mem_level,
            min_size: self.deflate_threshold,
            ..DeflateConfig::default()
        };
        let bits = self.deflate_window_bits;
        let takeover = self.deflate_no_context_takeover;
        match role {
            Role::Server => {
                config.server_max_window_bits = bits;
                config.server_no_context_takeover = takeover;
            }
            Role::Client => {
                config.client_max_window_bits = bits;
                config.client_no_context_takeover = takeover;
            }
        }
        config.validate()?;
        Ok(config)
    }
}
