//! Pod addresses from the node's pod CIDR. On the process runtime the CIDR lies inside
//! 127.0.0.0/8, where every address reaches the host, so each pod gets its own loopback address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpPoolError {
    #[error("invalid pod CIDR {0:?}: want a.b.c.d/n with n between 8 and 30")]
    BadCidr(String),
    #[error("no free pod address left in {0}")]
    Exhausted(String),
}

/// Allocates addresses by pod uid. The network address, the first host address (kept for the
/// node) and the broadcast address are never handed out.
#[derive(Debug, Clone)]
pub struct IpPool {
    cidr: String,
    base: u32,
    size: u32,
    next: u32,
    by_pod: BTreeMap<String, Ipv4Addr>,
    taken: BTreeMap<Ipv4Addr, String>,
}

impl IpPool {
    pub fn new(cidr: &str) -> Result<Self, IpPoolError> {
        let bad = || IpPoolError::BadCidr(cidr.to_string());
        let (addr, bits) = cidr.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let bits: u32 = bits.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&bits) {
            return Err(bad());
        }
        let size = 1u32 << (32 - bits);
        let base = u32::from(addr) & !(size - 1);
        Ok(Self {
            cidr: cidr.to_string(),
            base,
            size,
            next: 2,
            by_pod: BTreeMap::new(),
            taken: BTreeMap::new(),
        })
    }

    /// The pod's address, allocating one the first time.
    pub fn allocate(&mut self, pod_uid: &str) -> Result<Ipv4Addr, IpPoolError> {
        if let Some(ip) = self.by_pod.get(pod_uid) {
            return Ok(*ip);
        }
        for _ in 0..self.size {
            let offset = self.next;
            self.next = if self.next + 1 >= self.size - 1 {
                2
            } else {
                self.next + 1
            };
            let ip = Ipv4Addr::from(self.base + offset);
            if offset >= 2 && offset < self.size - 1 && !self.taken.contains_key(&ip) {
                self.reserve(pod_uid, ip);
                return Ok(ip);
            }
        }
        Err(IpPoolError::Exhausted(self.cidr.clone()))
    }

    /// Keep an address a pod already has (adoption after a restart). Returns false if it is
    /// outside the CIDR or held by another pod.
    pub fn reserve(&mut self, pod_uid: &str, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        if n < self.base || n >= self.base + self.size {
            return false;
        }
        if self.taken.get(&ip).is_some_and(|holder| holder != pod_uid) {
            return false;
        }
        self.taken.insert(ip, pod_uid.to_string());
        self.by_pod.insert(pod_uid.to_string(), ip);
        true
    }

    pub fn release(&mut self, pod_uid: &str) {
        if let Some(ip) = self.by_pod.remove(pod_uid) {
            self.taken.remove(&ip);
        }
    }

    /// The address kept for the node itself (the first host address).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_distinct_addresses_that_are_reused_after_release() {
        let mut pool = IpPool::new("127.9.0.0/29").expect("cidr");
        assert_eq!(pool.gateway(), Ipv4Addr::new(127, 9, 0, 1));
        let ips: Vec<_> = (0..5)
            .map(|i| pool.allocate(&format!("p{i}")).expect("ip"))
            .collect();
        assert_eq!(ips[0], Ipv4Addr::new(127, 9, 0, 2));
        assert_eq!(ips[4], Ipv4Addr::new(127, 9, 0, 6));
        assert_eq!(pool.allocate("p0").expect("same"), ips[0]);
        assert_eq!(
            pool.allocate("p9"),
            Err(IpPoolError::Exhausted("127.9.0.0/29".into()))
        );
        pool.release("p2");
        assert_eq!(pool.allocate("p9").expect("reused"), ips[2]);
    }

    #[test]
    fn adopted_addresses_are_kept_and_bad_cidrs_refused() {
        let mut pool = IpPool::new("127.9.0.0/24").expect("cidr");
        assert!(pool.reserve("old", Ipv4Addr::new(127, 9, 0, 2)));
        assert!(!pool.reserve("other", Ipv4Addr::new(127, 9, 0, 2)));
        assert!(!pool.reserve("x", Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            pool.allocate("new").expect("ip"),
            Ipv4Addr::new(127, 9, 0, 3)
        );
        for bad in ["127.0.0.0", "127.0.0.0/31", "x/24", "127.0.0.0/4"] {
            assert!(IpPool::new(bad).is_err(), "{bad}");
        }
    }
}
