"""Language Kindergarten: `python app.py [--model smollm2-135m|gpt2|...]`; a Space runs it."""

from grpo_demo.ui import main

if __name__ == "__main__":
    main()
