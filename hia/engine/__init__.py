"""Running searches: the aligner, batches, the allocation of a dataset budget, the journal, Ray."""
