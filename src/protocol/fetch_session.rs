//! Incremental fetch sessions (KIP-227). A client that opens a session sends only the partitions
//! that changed; the broker answers only the partitions with news (records, a moved high
//! watermark or log start, an error). Pure bookkeeping; `handlers::fetch` drives it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use indexmap::IndexMap;
use uuid::Uuid;

/// Epoch meaning "no session / close the session".
pub const FINAL_EPOCH: i32 = -1;
pub const INITIAL_EPOCH: i32 = 0;

/// A partition as a fetch names it: topic id (v13+) or name, and index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

/// What the client asked for a partition, and what it was last told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPartition {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub sent: Option<(i64, i64)>,
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: IndexMap<PartitionKey, SessionPartition>,
    used: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    NotFound,
    InvalidEpoch,
}

/// How this request is to be answered.
#[derive(Debug)]
pub struct Plan {
    /// Session id to put in the response (0: sessionless).
    pub session_id: i32,
    /// Answer only partitions with news.
    pub incremental: bool,
    /// The partitions to read, in order.
    pub partitions: Vec<(PartitionKey, SessionPartition)>,
}

pub struct FetchSessions {
    inner: Mutex<Inner>,
    /// Sessions kept at once (`max.incremental.fetch.session.cache.slots`).
    slots: usize,
}

impl Default for FetchSessions {
    fn default() -> Self {
        FetchSessions::new(1000)
    }
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<i32, Session>,
    next_id: i32,
}

impl FetchSessions {
    pub fn new(slots: usize) -> FetchSessions {
        FetchSessions { inner: Mutex::default(), slots }
    }

    /// Applies a request's session fields and partition changes; returns what to read.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<(PartitionKey, SessionPartition)>,
        forgotten: Vec<PartitionKey>,
    ) -> Result<Plan, SessionError> {
        let mut g = self.inner.lock().unwrap();
        if session_id != 0 && (epoch == FINAL_EPOCH || epoch == INITIAL_EPOCH) {
            g.sessions.remove(&session_id);
        }
        if epoch == FINAL_EPOCH {
            return Ok(Plan { session_id: 0, incremental: false, partitions: requested });
        }
        if epoch == INITIAL_EPOCH && self.slots == 0 {
            // No cache: every fetch is a full one, as Kafka answers with session id 0.
            return Ok(Plan { session_id: 0, incremental: false, partitions: requested });
        }
        if epoch == INITIAL_EPOCH {
            let id = g.new_id();
            g.make_room(self.slots);
            let partitions: IndexMap<_, _> = requested.iter().cloned().collect();
            g.sessions.insert(id, Session { next_epoch: 1, partitions, used: Instant::now() });
            return Ok(Plan { session_id: id, incremental: false, partitions: requested });
        }
        let session = g.sessions.get_mut(&session_id).ok_or(SessionError::NotFound)?;
        if session.next_epoch != epoch {
            return Err(SessionError::InvalidEpoch);
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.used = Instant::now();
        for key in forgotten {
            session.partitions.shift_remove(&key);
        }
        for (key, p) in requested {
            let sent = session.partitions.get(&key).and_then(|old| old.sent);
            session.partitions.insert(key, SessionPartition { sent, ..p });
        }
        let partitions = session.partitions.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Plan { session_id, incremental: true, partitions })
    }

    /// Records what a response sent for its partitions: (key, high watermark, log start, had
    /// records). Partitions that returned records move to the end of the session, in one pass,
    /// so the next fetch serves the others first when the response size limit is small (as
    /// Kafka rotates them).
    pub fn sent(&self, session_id: i32, sent: &[(PartitionKey, i64, i64, bool)]) {
        if session_id == 0 || sent.is_empty() {
            return;
        }
        let mut g = self.inner.lock().unwrap();
        let Some(s) = g.sessions.get_mut(&session_id) else { return };
        for (key, hw, log_start, _) in sent {
            if let Some(p) = s.partitions.get_mut(key) {
                p.sent = Some((*hw, *log_start));
            }
        }
        let with_data: std::collections::HashSet<&PartitionKey> =
            sent.iter().filter(|(_, _, _, had)| *had).map(|(k, _, _, _)| k).collect();
        if !with_data.is_empty() {
            let (front, back): (IndexMap<_, _>, IndexMap<_, _>) =
                std::mem::take(&mut s.partitions).into_iter().partition(|(k, _)| !with_data.contains(k));
            s.partitions = front;
            s.partitions.extend(back);
        }
    }
}

impl Inner {
    fn new_id(&mut self) -> i32 {
        loop {
            self.next_id = if self.next_id >= i32::MAX - 1 { 1 } else { self.next_id + 1 };
            if !self.sessions.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }

    /// Evicts the least recently used session when the cache is full.
    fn make_room(&mut self, slots: usize) {
        if self.sessions.len() < slots {
            return;
        }
        if let Some((&id, _)) = self.sessions.iter().min_by_key(|(_, s)| s.used) {
            self.sessions.remove(&id);
        }
    }
}

/// Whether an incremental response must include a partition.
pub fn has_news(p: &SessionPartition, hw: i64, log_start: i64, records: usize, error: bool) -> bool {
    records > 0 || error || p.sent != Some((hw, log_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        PartitionKey { topic_id: Uuid::nil(), topic: "t".into(), partition: p }
    }

    fn part(offset: i64) -> SessionPartition {
        SessionPartition { fetch_offset: offset, max_bytes: 100, sent: None }
    }

    #[test]
    fn full_then_incremental_then_close() {
        let s = FetchSessions::default();
        let plan = s.begin(0, INITIAL_EPOCH, vec![(key(0), part(0)), (key(1), part(0))], vec![]).unwrap();
        assert!(!plan.incremental && plan.session_id != 0);
        let id = plan.session_id;
        s.sent(id, &[(key(0), 5, 0, false)]);
        // Incremental: only partition 0 moves on; partition 1 is still in the session.
        let plan = s.begin(id, 1, vec![(key(0), part(5))], vec![]).unwrap();
        assert!(plan.incremental);
        assert_eq!(plan.partitions.len(), 2);
        assert_eq!(plan.partitions[0].1.fetch_offset, 5);
        assert_eq!(plan.partitions[0].1.sent, Some((5, 0)), "what was sent is kept across updates");
        assert!(!has_news(&plan.partitions[0].1, 5, 0, 0, false));
        assert!(has_news(&plan.partitions[1].1, 0, 0, 0, false), "never sent");
        // Partition 0 returned records: it goes to the back, so partition 1 is read first.
        s.sent(id, &[(key(0), 9, 0, true)]);
        let plan = s.begin(id, 2, vec![], vec![]).unwrap();
        assert_eq!(plan.partitions.iter().map(|(k, _)| k.partition).collect::<Vec<_>>(), vec![1, 0]);
        // Forgetting removes; a wrong epoch is refused; FINAL closes.
        let plan = s.begin(id, 3, vec![], vec![key(1)]).unwrap();
        assert_eq!(plan.partitions.len(), 1);
        assert_eq!(s.begin(id, 7, vec![], vec![]).unwrap_err(), SessionError::InvalidEpoch);
        let plan = s.begin(id, FINAL_EPOCH, vec![(key(3), part(0))], vec![]).unwrap();
        assert_eq!((plan.session_id, plan.partitions.len()), (0, 1));
        assert_eq!(s.begin(id, 4, vec![], vec![]).unwrap_err(), SessionError::NotFound);
    }

    #[test]
    fn the_slots_bound_the_sessions() {
        let s = FetchSessions::new(2);
        let open = |s: &FetchSessions| s.begin(0, INITIAL_EPOCH, vec![(key(0), part(0))], vec![]).unwrap().session_id;
        let (a, b) = (open(&s), open(&s));
        // `a` is used again, so `b` is the least recently used when a third session arrives.
        s.begin(a, 1, vec![], vec![]).unwrap();
        let c = open(&s);
        assert_eq!(s.inner.lock().unwrap().sessions.len(), 2);
        assert_eq!(s.begin(b, 1, vec![], vec![]).unwrap_err(), SessionError::NotFound, "evicted");
        assert!(s.begin(a, 2, vec![], vec![]).is_ok() && s.begin(c, 1, vec![], vec![]).is_ok());

        let none = FetchSessions::new(0);
        let plan = none.begin(0, INITIAL_EPOCH, vec![(key(0), part(0))], vec![]).unwrap();
        assert_eq!((plan.session_id, plan.incremental, plan.partitions.len()), (0, false, 1), "full fetches only");
        assert!(none.inner.lock().unwrap().sessions.is_empty());
    }
}
