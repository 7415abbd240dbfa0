"""Teacher: what the class may do today (class mode, only with the teacher link)."""

import streamlit as st

from app_pages.common import is_teacher, teacher_refusal

st.title("Teacher")
if not is_teacher():
    st.error(teacher_refusal(), icon=":material/lock:")
    st.stop()
