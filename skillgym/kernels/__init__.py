"""Explicit-SIMD OpenCL kernels (``*.cl``) and the small runtime that builds and runs them."""
