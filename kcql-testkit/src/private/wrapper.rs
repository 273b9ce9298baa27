//! What every private service type shares: it holds one
//! [`PrivateService`](super::PrivateService) and dereferences to it, for `kill`, `stop`,
//! `restart`, `is_running`, `answers` and `log_tail`.

/// Implements `Deref` and `DerefMut` to [`PrivateService`](super::PrivateService) for a
/// private service type whose field `service` holds it.
macro_rules! deref_to_service {
    ($wrapper:ty) => {
        impl std::ops::Deref for $wrapper {
            type Target = $crate::private::PrivateService;
            fn deref(&self) -> &$crate::private::PrivateService {
                &self.service
            }
        }

        impl std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut $crate::private::PrivateService {
                &mut self.service
            }
        }
    };
}

pub(crate) use deref_to_service;
