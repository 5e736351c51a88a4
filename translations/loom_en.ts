<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
<context>
    <name>loom::models::DatasetListModel</name>
    <message numerus="yes">
        <source>%1: %n version(s)</source>
        <translation>
            <numerusform>%1: %n version</numerusform>
            <numerusform>%1: %n versions</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>The latest, v%1, has %Ln row(s).</source>
        <translation>
            <numerusform>The latest, v%1, has %Ln row.</numerusform>
            <numerusform>The latest, v%1, has %Ln rows.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>loom::models::DatasetRowsModel</name>
    <message numerus="yes">
        <source>‹%n byte(s)›</source>
        <translation>
            <numerusform>‹%n byte›</numerusform>
            <numerusform>‹%n bytes›</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>loom::widgets::DatasetViewer</name>
    <message numerus="yes">
        <source>%Ln row(s)</source>
        <translation>
            <numerusform>%Ln row</numerusform>
            <numerusform>%Ln rows</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n column(s)</source>
        <translation>
            <numerusform>%n column</numerusform>
            <numerusform>%n columns</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>loom::widgets::MainWindow</name>
    <message numerus="yes">
        <source>%1@%2 (%Ln row(s))</source>
        <translation>
            <numerusform>%1@%2 (%Ln row)</numerusform>
            <numerusform>%1@%2 (%Ln rows)</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>; %Ln row(s) failed</source>
        <translation>
            <numerusform>; %Ln row failed</numerusform>
            <numerusform>; %Ln rows failed</numerusform>
        </translation>
    </message>
</context>
</TS>
