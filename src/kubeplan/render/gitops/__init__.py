"""GitOps tree rendering (Argo CD or Flux) from block add-on contributions."""
