//! A deterministic fleet of simulated IoT devices, shared by the `iot_pipeline` example and its
//! end-to-end test.
//!
//! Every device publishes JSON readings `{"id":"dev-3","temperature":21.4,"humidity":40.2,
//! "ts":<epoch ms>}` to the MQTT topic `<prefix>/<id>` (the talk subscribes to `/sensors/+`).
//! Temperature and humidity are random walks driven by a SplitMix64 generator seeded with the
//! fleet's seed, so the same `(devices, seed)` always produces the same values in the same order
//! (the event times are what the caller passes in: a schedule for tests, the clock for a live
//! run). Values are rounded to two decimals and written with Rust's shortest round-trip float
//! format, so what a consumer parses is exactly the `f64` the simulator holds.
//!
//! [`tumbling_windows`] computes, from the readings themselves, what a per-device
//! `MIN/MAX/AVG/COUNT … GROUP BY id WINDOW TUMBLING(size)` must produce: the reference a test
//! compares the pipeline's output with.
//!
//! ```
//! use kcql_testkit::devices::{Fleet, tumbling_windows};
//! let mut fleet = Fleet::new(2, 7);
//! let readings = fleet.schedule(0, 4_000, 10); // 2 devices × 4 s × 10 readings/s
//! assert_eq!(readings.len(), 80);
//! let windows = tumbling_windows(&readings, 2_000);
//! assert_eq!(windows.len(), 4); // 2 devices × 2 windows
//! assert!(windows.values().all(|w| w.count == 20));
//! ```

use std::collections::BTreeMap;

/// The SplitMix64 generator: tiny, fast, and the same on every platform (fleets, kill
/// schedules: anything a test must be able to replay from a seed).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// One device's state: its id and the current values of its random walks.
#[derive(Debug, Clone)]
struct Device {
    id: String,
    temperature: f64,
    humidity: f64,
    rng: SplitMix64,
}

/// One reading as the device publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The device id (`dev-0`, `dev-1`, …): the MQTT topic's last level and the Kafka key.
    pub id: String,
    /// Degrees Celsius, two decimals.
    pub temperature: f64,
    /// Relative humidity in percent, two decimals.
    pub humidity: f64,
    /// Event time, milliseconds since the epoch.
    pub ts: i64,
}

impl Reading {
    /// The JSON payload: `{"id":…,"temperature":…,"humidity":…,"ts":…}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "temperature": self.temperature,
            "humidity": self.humidity,
            "ts": self.ts,
        })
        .to_string()
    }

    /// The MQTT topic under `prefix` (`/sensors` → `/sensors/dev-3`).
    pub fn topic(&self, prefix: &str) -> String {
        format!("{}/{}", prefix.trim_end_matches('/'), self.id)
    }
}

/// A fleet of simulated devices with reproducible readings.
#[derive(Debug, Clone)]
pub struct Fleet {
    devices: Vec<Device>,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Fleet {
    /// `devices` devices (`dev-0` … `dev-<n-1>`), their values seeded by `seed`.
    pub fn new(devices: usize, seed: u64) -> Fleet {
        let mut master = SplitMix64(seed);
        let devices = (0..devices)
            .map(|i| {
                let mut rng = SplitMix64(master.next_u64());
                let temperature = round2(18.0 + (i % 7) as f64 + rng.unit());
                let humidity = round2(40.0 + 5.0 * rng.unit());
                Device {
                    id: format!("dev-{i}"),
                    temperature,
                    humidity,
                    rng,
                }
            })
            .collect();
        Fleet { devices }
    }

    /// How many devices there are.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the fleet has no device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The device ids, in index order.
    pub fn ids(&self) -> Vec<String> {
        self.devices.iter().map(|d| d.id.clone()).collect()
    }

    /// The next reading of device `index` (modulo the fleet size) at event time `ts`: each
    /// value takes one random-walk step (temperature ±0.25 °C, humidity ±0.5 %, kept in
    /// realistic ranges).
    pub fn next_reading(&mut self, index: usize, ts: i64) -> Reading {
        let n = self.devices.len().max(1);
        let Some(d) = self.devices.get_mut(index % n) else {
            return Reading {
                id: String::new(),
                temperature: 0.0,
                humidity: 0.0,
                ts,
            };
        };
        d.temperature = round2((d.temperature + 0.25 * d.rng.unit()).clamp(-20.0, 50.0));
        d.humidity = round2((d.humidity + 0.5 * d.rng.unit()).clamp(5.0, 95.0));
        Reading {
            id: d.id.clone(),
            temperature: d.temperature,
            humidity: d.humidity,
            ts,
        }
    }

    /// One reading of every device at event time `ts`, in device order (one tick of a live
    /// run).
    pub fn tick(&mut self, ts: i64) -> Vec<Reading> {
        (0..self.devices.len())
            .map(|i| self.next_reading(i, ts))
            .collect()
    }

    /// A schedule: `per_second` readings per device per second for `duration_ms` of event
    /// time from `start_ms`, in event-time order (tick `k` at `start_ms + k·1000/per_second`,
    /// every device in order within a tick).
    pub fn schedule(&mut self, start_ms: i64, duration_ms: i64, per_second: u32) -> Vec<Reading> {
        let per_second = i64::from(per_second.max(1));
        let ticks = duration_ms.max(0) * per_second / 1000;
        let mut out = Vec::with_capacity(ticks as usize * self.devices.len());
        for k in 0..ticks {
            out.extend(self.tick(start_ms + k * 1000 / per_second));
        }
        out
    }
}

/// What a tumbling window over one device's readings must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    /// The device id (the group key).
    pub id: String,
    /// Window start, epoch ms (inclusive).
    pub window_start: i64,
    /// Window end, epoch ms (exclusive).
    pub window_end: i64,
    /// Smallest temperature.
    pub min: f64,
    /// Largest temperature.
    pub max: f64,
    /// Sum of temperatures.
    pub sum: f64,
    /// Number of readings.
    pub count: u64,
}

impl WindowStats {
    /// The mean temperature.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// The start of the epoch-aligned window of `size_ms` holding `ts`.
pub fn window_start(ts: i64, size_ms: i64) -> i64 {
    ts - ts.rem_euclid(size_ms)
}

/// Per `(device id, window start)`: min/max/sum/count of temperature over epoch-aligned
/// tumbling windows of `size_ms` (`[start, start + size)`).
pub fn tumbling_windows(
    readings: &[Reading],
    size_ms: i64,
) -> BTreeMap<(String, i64), WindowStats> {
    let mut out: BTreeMap<(String, i64), WindowStats> = BTreeMap::new();
    for r in readings {
        let start = window_start(r.ts, size_ms);
        out.entry((r.id.clone(), start))
            .and_modify(|w| {
                w.min = w.min.min(r.temperature);
                w.max = w.max.max(r.temperature);
                w.sum += r.temperature;
                w.count += 1;
            })
            .or_insert_with(|| WindowStats {
                id: r.id.clone(),
                window_start: start,
                window_end: start + size_ms,
                min: r.temperature,
                max: r.temperature,
                sum: r.temperature,
                count: 1,
            });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_readings() {
        let a = Fleet::new(3, 42).schedule(1_000, 5_000, 4);
        let b = Fleet::new(3, 42).schedule(1_000, 5_000, 4);
        let c = Fleet::new(3, 43).schedule(1_000, 5_000, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 3 * 20);
        assert_eq!(a[0].ts, 1_000);
        assert_eq!(a[3].ts, 1_250);
        assert_eq!(a[2].id, "dev-2");
    }

    #[test]
    fn payloads_round_trip_exactly() {
        let r = Fleet::new(1, 1).next_reading(0, 1_700_000_000_123);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["id"], "dev-0");
        assert_eq!(v["temperature"].as_f64(), Some(r.temperature));
        assert_eq!(v["humidity"].as_f64(), Some(r.humidity));
        assert_eq!(v["ts"].as_i64(), Some(1_700_000_000_123));
        assert!(v["temperature"].is_f64());
        assert_eq!(r.topic("/sensors/"), "/sensors/dev-0");
    }

    #[test]
    fn windows_follow_the_readings() {
        let mut f = Fleet::new(2, 9);
        let readings = f.schedule(-1_000, 6_000, 2);
        let w = tumbling_windows(&readings, 2_000);
        // ticks at -1000, -500, 0 … 4500: windows [-2000,0) holds 2, then 4, 4, and [4000,6000) 2.
        let counts: Vec<u64> = w
            .iter()
            .filter(|((id, _), _)| id == "dev-0")
            .map(|(_, s)| s.count)
            .collect();
        assert_eq!(counts, vec![2, 4, 4, 2]);
        let first = &w[&("dev-1".to_string(), -2_000)];
        let mine: Vec<f64> = readings
            .iter()
            .filter(|r| r.id == "dev-1" && r.ts < 0)
            .map(|r| r.temperature)
            .collect();
        assert_eq!(first.min, mine.iter().cloned().fold(f64::MAX, f64::min));
        assert_eq!(first.max, mine.iter().cloned().fold(f64::MIN, f64::max));
        assert!((first.avg() - mine.iter().sum::<f64>() / 2.0).abs() < 1e-12);
        assert_eq!(first.window_end, 0);
    }
}
