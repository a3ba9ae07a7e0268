//! The chat's JSON messages, as the article defines them.

use serde::{Deserialize, Serialize};

/// What a client may send. The `type` field picks the variant.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Incoming {
    /// Join the chat as `uuid`; `content` goes out with the `login` notice.
    Register {
        /// The name to appear under.
        uuid: String,
        /// Text of the login notice.
        content: String,
    },
    /// Say something to everyone registered.
    Send {
        /// The text.
        content: String,
    },
    /// Leave the chat (the connection stays open).
    Unregister {
        /// Must be the connection's own uuid when given.
        #[serde(default)]
        uuid: Option<String>,
        /// Text of the logout notice.
        #[serde(default)]
        content: Option<String>,
    },
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outgoing<'a> {
    /// Sent once on connect.
    Handshake,
    /// Someone registered; `user_list` is everyone registered now.
    Login {
        /// The newcomer's login text.
        content: &'a str,
        /// Registered uuids, sorted.
        user_list: Vec<&'a str>,
    },
    /// A chat message from `from`.
    User {
        /// The text.
        content: &'a str,
        /// The sender's uuid.
        from: &'a str,
    },
    /// Someone left (explicitly or by disconnecting).
    Logout {
        /// The logout text.
        content: &'a str,
        /// Registered uuids, sorted.
        user_list: Vec<&'a str>,
    },
    /// The last message from this client was refused; nothing else changed.
    Error {
        /// Why.
        reason: &'a str,
    },
}

impl Outgoing<'_> {
    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
