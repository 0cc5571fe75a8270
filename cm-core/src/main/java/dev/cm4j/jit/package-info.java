/**
 * TorchScript models supplied as files (torch.jit.save of a scripted or traced module), e.g. the Inception-v3 of
 * FID or LPIPS networks: {@link dev.cm4j.jit.ScriptModule}.
 */
package dev.cm4j.jit;
