//! permessage-deflate as an [`Extension`] of the opening handshake: the
//! handshake parses and renders the header, this file decides with the
//! pure functions of [`super::params`] and sets up the session.

use std::sync::Arc;

use super::params::{self, DeflateConfig, EXTENSION_NAME};
use crate::ws::extension::{Extension, ExtensionParams};
use crate::ws::session::{Role, Session};

/// The permessage-deflate extension with the endpoint's settings, for
/// [`HandshakeConfig::extensions`](crate::ws::HandshakeConfig::extensions).
#[derive(Clone, Debug)]
pub struct PerMessageDeflate {
    config: DeflateConfig,
}

impl PerMessageDeflate {
    /// The extension speaking `config` (which should have passed
    /// [`DeflateConfig::validate`]).
    pub fn new(config: DeflateConfig) -> Self {
        PerMessageDeflate { config }
    }

    /// The same, ready for an extension list.
    pub fn shared(config: DeflateConfig) -> Arc<dyn Extension> {
        Arc::new(Self::new(config))
    }

    /// The settings it negotiates with.
    pub fn config(&self) -> &DeflateConfig {
        &self.config
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        EXTENSION_NAME
    }

    fn accept(&self, offers: &[ExtensionParams]) -> Option<ExtensionParams> {
        params::accept_offers(offers, &self.config)
    }

    fn offer(&self) -> ExtensionParams {
        params::offer(&self.config)
    }

    fn check_answer(&self, answer: &ExtensionParams) -> Result<(), String> {
        params::check_answer(answer, &self.config)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn configure(&self, agreed: &ExtensionParams, session: &mut Session) {
        let deflate = match session.role() {
            Role::Server => params::server_params(agreed, &self.config),
            // The answer passed `check_answer` during the handshake.
            Role::Client => match params::check_answer(agreed, &self.config) {
                Ok(params) => params,
                Err(_) => return,
            },
        };
        session.enable_deflate(deflate);
    }
}
