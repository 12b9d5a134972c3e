/* envelope script: replaced by the real one */
