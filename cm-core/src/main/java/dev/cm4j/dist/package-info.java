/**
 * Data-parallel training across processes through c10d: a {@link dev.cm4j.dist.ProcessGroup} (Gloo for CPU
 * tensors; NCCL for CUDA tensors in CUDA builds) created from explicit coordinates or torchrun's environment, its
 * rendezvous {@link dev.cm4j.dist.Store}, and a {@link dev.cm4j.dist.GradientBucketer} that averages gradients in
 * size-capped flat buckets. Collectives block until done and fail (never hang) when a peer dies or stalls past
 * the group's timeout.
 */
package dev.cm4j.dist;
