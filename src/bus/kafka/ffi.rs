//! Small helpers for the librdkafka admin calls made through rdkafka-sys (topic ids, group
//! offsets): owned C objects and C strings.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr::NonNull;

/// An owned librdkafka object, freed with `free` when dropped.
pub struct Owned<T>(NonNull<T>, unsafe extern "C" fn(*mut T));

impl<T> Owned<T> {
    /// `None` for a null pointer (librdkafka could not create the object).
    pub fn new(ptr: *mut T, free: unsafe extern "C" fn(*mut T)) -> Option<Owned<T>> {
        NonNull::new(ptr).map(|p| Owned(p, free))
    }
    pub fn ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from librdkafka's constructor for this type, `free` is its
        // matching destructor, and it is called exactly once.
        unsafe { (self.1)(self.0.as_ptr()) }
    }
}

/// A C string as owned text ("" for null).
///
/// # Safety
/// `p` is null or a valid NUL-terminated string.
pub unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
