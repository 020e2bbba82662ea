//! Fencing: the leader token of the JobManager this TaskManager is registered with.
//! Every command from a JobManager carries its token; a command with any other token
//! (an old leader that woke up, a JobManager from before a restart) is refused.

use parking_lot::{RwLock, RwLockReadGuard};

#[derive(Debug, Default)]
pub struct LeaderFence {
    token: RwLock<Option<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FencingError {
    #[error("not registered with any JobManager yet; command refused")]
    NoLeader,
    /// The token itself is never part of the message: an error text reaches the caller.
    #[error("stale leader token: this TaskManager follows another JobManager leader; command refused")]
    StaleToken,
}

impl LeaderFence {
    /// Records the token of the leader a registration was accepted by.
    pub fn accept_leader(&self, token: &str) {
        *self.token.write() = Some(token.to_string());
    }

    /// The current leader's token, if registered.
    pub fn current(&self) -> Option<String> {
        self.token.read().clone()
    }

    /// Ok when `token` is the current leader's.
    pub fn check(&self, token: &str) -> Result<(), FencingError> {
        self.guard(token).map(drop)
    }

    /// Like `check`, and the leader cannot change while the guard lives: a command
    /// holds it from its check to the end of its effect.
    pub fn guard(&self, token: &str) -> Result<RwLockReadGuard<'_, Option<String>>, FencingError> {
        let current = self.token.read();
        match current.as_deref() {
            None => Err(FencingError::NoLeader),
            Some(c) if c == token => Ok(current),
            Some(_) => Err(FencingError::StaleToken),
        }
    }

    /// Follows a new leader: `release` (cancel and free what the old one placed) runs
    /// while no command can pass the fence, then the new token takes effect.
    pub fn switch_leader(&self, token: &str, release: impl FnOnce()) {
        let mut current = self.token.write();
        release();
        *current = Some(token.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_until_registered_and_after_leader_change() {
        let fence = LeaderFence::default();
        assert_eq!(fence.check("a"), Err(FencingError::NoLeader));
        fence.accept_leader("a");
        assert!(fence.check("a").is_ok());
        fence.accept_leader("b");
        assert_eq!(fence.check("a"), Err(FencingError::StaleToken));
        assert!(fence.check("b").is_ok());
    }

    #[test]
    fn refusals_never_name_a_token() {
        let fence = LeaderFence::default();
        fence.accept_leader("current-secret-7f3a");
        let refused = fence.check("forged-guess-19c2").unwrap_err().to_string();
        assert!(!refused.contains("current-secret-7f3a") && !refused.contains("forged-guess-19c2"), "{refused}");
    }
}
