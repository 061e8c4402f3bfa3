"""The paper's held-out evaluation suite: MMLU, BBH, TyDiQA GoldP and MGSM (TensorFlow-free)."""
