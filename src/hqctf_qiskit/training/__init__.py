"""Training, evaluation, prediction and export around smp models with optional QPG layers."""
