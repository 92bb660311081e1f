"""Raw rows from local files or the Hugging Face Hub, with the file hash recorded."""
